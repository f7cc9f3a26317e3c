"""`bench` subcommands, one module each; each imports heavy modules inside its commands."""
