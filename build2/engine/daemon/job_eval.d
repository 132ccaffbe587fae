build2/engine/daemon/job_eval.o: engine/daemon/job_eval.c \
 /usr/include/cjson/cJSON.h engine/eval/calib.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h engine/eval/eval.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/quant/quant.h \
 engine/quant/scheme.h engine/daemon/job.h engine/eval/qplan.h \
 engine/io/report.h engine/recipe/deploy.h engine/recipe/recipe.h \
 engine/model/match.h engine/base/yamltree.h engine/recipe/lint.h \
 engine/eval/sensitivity.h engine/io/writer.h
/usr/include/cjson/cJSON.h:
engine/eval/calib.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/daemon/job.h:
engine/eval/qplan.h:
engine/io/report.h:
engine/recipe/deploy.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/base/yamltree.h:
engine/recipe/lint.h:
engine/eval/sensitivity.h:
engine/io/writer.h:
