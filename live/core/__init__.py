"""What every part stands on: files written atomically, images read and written, stopping on signals,
profiling. May import: live.errors, live.config and libraries; nothing else of live."""
