"""Screenshot generators for docs/screens/: the real app widgets drawn offscreen.

``python -m server.tools.screens.kiosk [OUTDIR]`` and
``python -m server.tools.screens.counter [OUTDIR]`` (no server needed). They
live with the tools because they import the apps (only server/tools may).
"""
