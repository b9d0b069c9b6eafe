"""The built-in engines' own parameter classes, one module each (``pe.params``; registered in
``accel_models.engines``)."""
