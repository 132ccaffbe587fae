build2/engine/quant/scheme.o: engine/quant/scheme.c engine/quant/scheme.h \
 engine/base/qt.h
engine/quant/scheme.h:
engine/base/qt.h:
