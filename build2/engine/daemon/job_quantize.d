build2/engine/daemon/job_quantize.o: engine/daemon/job_quantize.c \
 /usr/include/cjson/cJSON.h engine/daemon/job.h engine/base/qt.h \
 engine/model/model.h engine/base/dtype.h engine/recipe/recipe.h \
 engine/model/match.h engine/quant/scheme.h engine/base/yamltree.h \
 engine/io/report.h engine/recipe/deploy.h engine/eval/eval.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/quant/quant.h \
 engine/recipe/lint.h engine/eval/sensitivity.h engine/eval/qplan.h \
 engine/io/writer.h
/usr/include/cjson/cJSON.h:
engine/daemon/job.h:
engine/base/qt.h:
engine/model/model.h:
engine/base/dtype.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
engine/io/report.h:
engine/recipe/deploy.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/quant/quant.h:
engine/recipe/lint.h:
engine/eval/sensitivity.h:
engine/eval/qplan.h:
engine/io/writer.h:
