"""One module per subcommand; each only parses its options and hands off."""
