"""Curated content the bot answers from: scope entries, off-topic routes,
support resources and survey definitions, as reviewable data files."""
