"""qhall kiosk: the touchscreen ticket machine and its thermal printing."""
