build2/tui/layout.o: tui/layout.c tui/layout.h tui/screen.h
tui/layout.h:
tui/screen.h:
