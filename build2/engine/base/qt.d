build2/engine/base/qt.o: engine/base/qt.c engine/base/qt.h
engine/base/qt.h:
