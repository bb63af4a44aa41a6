"""Chat command handlers, one module per command family; each marks its functions with @command."""
