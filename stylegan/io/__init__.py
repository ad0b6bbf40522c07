"""Reading and writing networks: this project's checkpoints and the official StyleGAN network pickles."""
