"""The wiring on top: the runtime that builds the stations from config, the process runner, the Flask
app factory and the CLI. The only package that imports connectors/ and routes/."""
