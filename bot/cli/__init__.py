"""The `rebot` command line: a package of command families registered on one group (bot.cli.main)."""
