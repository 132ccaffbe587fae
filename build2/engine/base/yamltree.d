build2/engine/base/yamltree.o: engine/base/yamltree.c \
 engine/base/yamltree.h engine/base/qt.h
engine/base/yamltree.h:
engine/base/qt.h:
