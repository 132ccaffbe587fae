build2/tui/keys.o: tui/keys.c tui/keys.h
tui/keys.h:
