build2/engine/daemon/daemon_preview.o: engine/daemon/daemon_preview.c \
 engine/eval/calib.h engine/model/model.h engine/base/dtype.h \
 engine/base/qt.h engine/daemon/daemon_ops.h /usr/include/cjson/cJSON.h \
 engine/daemon/daemon.h engine/daemon/proto.h engine/eval/eval.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/quant/quant.h \
 engine/quant/scheme.h engine/eval/preview.h
engine/eval/calib.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/daemon/daemon_ops.h:
/usr/include/cjson/cJSON.h:
engine/daemon/daemon.h:
engine/daemon/proto.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/eval/preview.h:
