build2/engine/base/hmap.o: engine/base/hmap.c engine/base/hmap.h \
 engine/base/qt.h
engine/base/hmap.h:
engine/base/qt.h:
