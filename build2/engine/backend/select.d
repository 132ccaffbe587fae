build2/engine/backend/select.o: engine/backend/select.c \
 engine/backend/select.h engine/base/dtype.h engine/base/qt.h \
 engine/quant/quant.h engine/quant/scheme.h engine/backend/cuda/cuda.h \
 engine/model/model.h
engine/backend/select.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/backend/cuda/cuda.h:
engine/model/model.h:
