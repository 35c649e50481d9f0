"""Channels carry messages between a platform and the engine, and do
nothing else. Each platform's libraries are imported only inside its own
channel module, so the terminal never pays for Slack or Teams."""
