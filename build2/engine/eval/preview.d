build2/engine/eval/preview.o: engine/eval/preview.c engine/eval/preview.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h \
 engine/quant/quant.h engine/quant/scheme.h engine/backend/cuda/cuda.h \
 engine/backend/select.h engine/base/hmap.h
engine/eval/preview.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/backend/cuda/cuda.h:
engine/backend/select.h:
engine/base/hmap.h:
