"""Knowledge entries shipped with certdesk, one TOML file per topic."""
