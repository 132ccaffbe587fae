build2/engine/quant/quant.o: engine/quant/quant.c engine/quant/quant.h \
 engine/base/dtype.h engine/base/qt.h engine/quant/scheme.h
engine/quant/quant.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/quant/scheme.h:
