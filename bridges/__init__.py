"""Network plugins bundled with bridgekit, one package per network."""
