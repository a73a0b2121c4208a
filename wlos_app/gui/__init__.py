"""The desktop app (PySide6). Only this package imports Qt; it calls `wlos_app.core` and `trainer`."""
