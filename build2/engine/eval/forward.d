build2/engine/eval/forward.o: engine/eval/forward.c engine/eval/forward.h \
 engine/backend/cuda/cuda.h engine/base/dtype.h engine/base/qt.h \
 engine/model/model.h engine/quant/quant.h engine/quant/scheme.h \
 /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h \
 /usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h \
 engine/backend/select.h
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/model/model.h:
engine/quant/quant.h:
engine/quant/scheme.h:
/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h:
/usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h:
engine/backend/select.h:
