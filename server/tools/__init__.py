"""Tools apart from the server: demo, load test, simulator, chaos, screenshots (the only code that imports the apps)."""
