"""Checking form answers, for every channel alike.

A Slack modal sends all values at once; the terminal asks one field at a
time. Both go through the same checks here, so an intent only ever receives
clean values, and a person gets the same kind words about a bad answer
wherever they are.
"""

from __future__ import annotations

from typing import Any

from bot.model import FieldKind, Form, FormField, Reply

SKIP_WORDS = {"", "skip"}


class AnswerError(ValueError):
    """A kind, specific message about why an answer can't be used."""


def _match_option(field: FormField, text: str) -> str:
    wanted = text.strip().lower()
    # isascii: "²" passes isdigit() but int() refuses it.
    if wanted.isascii() and wanted.isdigit() and len(wanted) <= 4 and 1 <= int(wanted) <= len(field.options):
        return field.options[int(wanted) - 1].value
    for option in field.options:
        if wanted in (option.label.lower(), option.value.lower()):
            return option.value
    raise AnswerError(
        f"I didn't find \"{text.strip()[:40]}\" among the options. "
        f"You can answer with a number from 1 to {len(field.options)} or type the option."
    )


def parse_answer(field: FormField, raw: Any) -> Any:
    """Turn one raw answer into a clean value, or None for a skipped optional field."""
    text = "" if raw is None else str(raw).strip()
    if text.lower() in SKIP_WORDS:
        if field.required:
            raise AnswerError("This one is needed before I can send the form. Could you answer it?")
        return None
    if field.kind in (FieldKind.text, FieldKind.long_text):
        if len(text) > field.max_length:
            raise AnswerError(
                f"That's longer than this answer allows ({len(text):,} characters; up to {field.max_length:,}). "
                "Could you shorten it a little?"
            )
        return text
    if field.kind is FieldKind.choice:
        return _match_option(field, text)
    if field.kind in (FieldKind.scale, FieldKind.number):
        if field.options and not text.lstrip("-").isdigit():
            return int(_match_option(field, text))
        try:
            number = int(text)
        except ValueError:
            raise AnswerError("A whole number works best here.") from None
        low, high = field.min, field.max
        if (low is not None and number < low) or (high is not None and number > high):
            raise AnswerError(f"Please pick a number from {low} to {high}.")
        return number
    raise AnswerError("I can't read that answer.")


def check_submission(form: Form, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check every field; return the clean values and a message for each bad field."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in form.fields:
        try:
            clean[field.name] = parse_answer(field, values.get(field.name))
        except AnswerError as exc:
            errors[field.name] = str(exc)
    return clean, errors


def ask_field(form: Form, position: int) -> Reply:
    """The message that asks for one field when a form is filled in conversation."""
    field = form.fields[position]
    lines = [f"({position + 1} of {len(form.fields)}) {field.label}"]
    if field.hint:
        lines.append(field.hint)
    return Reply(text="\n".join(lines), asking=field)
