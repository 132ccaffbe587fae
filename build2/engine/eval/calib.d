build2/engine/eval/calib.o: engine/eval/calib.c engine/eval/calib.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h \
 /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h \
 /usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/quant/quant.h \
 engine/quant/scheme.h engine/base/hmap.h engine/model/safetensors.h \
 engine/model/tokenizer.h
engine/eval/calib.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h:
/usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/base/hmap.h:
engine/model/safetensors.h:
engine/model/tokenizer.h:
