# Network examples (public API only).
uco_add_example(uco-echo SOURCES uco-echo.c INSTALL)
