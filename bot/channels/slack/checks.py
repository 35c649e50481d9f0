"""Start-up checks: is the token accepted, and can the bot post where
concerns go? Each problem is one plain line for whoever is setting it up."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import DeliveryError, Unreachable
from bot.channels.slack.channel import calling


async def check_slack(client: AsyncWebClient, supervisor_name: str, supervisor_id: str | None) -> tuple[list[str], list[str]]:
    """Return (what is fine, what needs fixing), one line each."""
    fine: list[str] = []
    problems: list[str] = []
    try:
        async with calling("auth.test"):
            me = await client.auth_test()
    except Unreachable as exc:
        return fine, [f"PEERBOT_SLACK_BOT_TOKEN: {exc}; copy the Bot User OAuth Token again from OAuth & Permissions"]
    except DeliveryError as exc:
        return fine, [f"could not reach Slack to check the setup ({exc}); peerbot will keep trying as messages come in"]
    bot_name = me.get("user") or "peerbot"
    fine.append(f"connected to the workspace {me.get('team') or me.get('team_id')} as @{bot_name}")
    if not supervisor_id:
        return fine, problems
    invite = f"invite the bot there with /invite @{bot_name}"
    try:
        async with calling("conversations.info"):
            info = (await client.conversations_info(channel=supervisor_id))["channel"]
    except Unreachable as exc:
        problems.append(
            f"PEERBOT_SLACK_SUPERVISOR_CHANNEL: the bot can't see {supervisor_id} ({exc}); "
            f"check the id, and for a private channel {invite}"
        )
        return fine, problems
    except DeliveryError as exc:
        problems.append(f"could not check the supervisor channel {supervisor_id} ({exc})")
        return fine, problems
    label = f"#{info.get('name', supervisor_id)} ({supervisor_id})"
    if info.get("is_archived"):
        problems.append(f"PEERBOT_SLACK_SUPERVISOR_CHANNEL: {label} is archived, so concerns can't be posted there")
    elif not info.get("is_member"):
        problems.append(f"PEERBOT_SLACK_SUPERVISOR_CHANNEL: the bot is not a member of {label}, so it can't post there yet: {invite}")
    else:
        fine.append(f"can post to the {supervisor_name} channel {label}")
    return fine, problems
