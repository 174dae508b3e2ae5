from constitutional.cli import app

app(prog_name="constitutional")
