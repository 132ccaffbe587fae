build2/engine/base/format.o: engine/base/format.c engine/base/format.h
engine/base/format.h:
