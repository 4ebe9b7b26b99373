# File-system examples: ucp, the file copy tool.
uco_add_example(ucp SOURCES ucp.c INSTALL)
