build2/engine/io/report.o: engine/io/report.c engine/io/report.h \
 /usr/include/cjson/cJSON.h engine/recipe/deploy.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h engine/recipe/recipe.h \
 engine/model/match.h engine/quant/scheme.h engine/base/yamltree.h \
 engine/eval/eval.h engine/eval/forward.h engine/backend/cuda/cuda.h \
 engine/quant/quant.h engine/recipe/lint.h engine/eval/sensitivity.h \
 engine/eval/qplan.h engine/io/writer.h engine/backend/select.h \
 engine/model/ct_read.h engine/model/arch.h engine/quant/ggml_quants.h
engine/io/report.h:
/usr/include/cjson/cJSON.h:
engine/recipe/deploy.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/quant/quant.h:
engine/recipe/lint.h:
engine/eval/sensitivity.h:
engine/eval/qplan.h:
engine/io/writer.h:
engine/backend/select.h:
engine/model/ct_read.h:
engine/model/arch.h:
engine/quant/ggml_quants.h:
