build2/engine/quant/pack.o: engine/quant/pack.c engine/quant/pack.h \
 engine/base/qt.h
engine/quant/pack.h:
engine/base/qt.h:
