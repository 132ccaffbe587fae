build2/tui/widgets.o: tui/widgets.c tui/widgets.h tui/screen.h
tui/widgets.h:
tui/screen.h:
