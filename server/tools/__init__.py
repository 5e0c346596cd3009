"""Tools apart from the server (demo, load test, simulator, screenshots).

The only code that imports the apps.
"""
