build2/tui/screen.o: tui/screen.c tui/screen.h tui/keys.h
tui/screen.h:
tui/keys.h:
