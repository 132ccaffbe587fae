build2/cli/cmd_inspect.o: cli/cmd_inspect.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h engine/backend/select.h engine/base/dtype.h \
 engine/quant/quant.h engine/quant/scheme.h engine/io/report.h \
 engine/recipe/deploy.h engine/model/model.h engine/recipe/recipe.h \
 engine/model/match.h engine/base/yamltree.h engine/eval/eval.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/recipe/lint.h \
 engine/eval/sensitivity.h engine/eval/qplan.h engine/io/writer.h \
 engine/model/gguf.h engine/quant/ggml_quants.h engine/base/format.h \
 engine/model/ct_read.h engine/model/arch.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/backend/select.h:
engine/base/dtype.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/io/report.h:
engine/recipe/deploy.h:
engine/model/model.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/base/yamltree.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/recipe/lint.h:
engine/eval/sensitivity.h:
engine/eval/qplan.h:
engine/io/writer.h:
engine/model/gguf.h:
engine/quant/ggml_quants.h:
engine/base/format.h:
engine/model/ct_read.h:
engine/model/arch.h:
