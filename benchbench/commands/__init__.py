"""`bench` subcommands, one module each; each imports heavy modules inside its commands, so that
`bench --help`, `bench plugins` and a command's own --help stay fast and torch-free."""
