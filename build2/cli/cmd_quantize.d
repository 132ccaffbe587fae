build2/cli/cmd_quantize.o: cli/cmd_quantize.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h cli/cli_recipe.h engine/model/model.h \
 engine/base/dtype.h engine/recipe/recipe.h engine/model/match.h \
 engine/quant/scheme.h engine/base/yamltree.h engine/io/report.h \
 engine/recipe/deploy.h engine/eval/eval.h engine/eval/forward.h \
 engine/backend/cuda/cuda.h engine/quant/quant.h engine/recipe/lint.h \
 engine/eval/sensitivity.h engine/eval/qplan.h engine/io/writer.h \
 engine/io/gguf_write.h engine/recipe/gguf_plan.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
cli/cli_recipe.h:
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
engine/io/gguf_write.h:
engine/recipe/gguf_plan.h:
