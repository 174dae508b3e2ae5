"""One module per pipeline stage; each has ``main(cfg) -> summary dict``."""
