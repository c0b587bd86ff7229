"""The daemon layer: process lifecycle, config, control socket, logging, sd_notify, the CLI client."""
