build2/cli/cmd_deploy.o: cli/cmd_deploy.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h cli/cli_recipe.h engine/model/model.h \
 engine/base/dtype.h engine/recipe/recipe.h engine/model/match.h \
 engine/quant/scheme.h engine/base/yamltree.h engine/recipe/deploy.h \
 engine/base/format.h engine/io/report.h engine/eval/eval.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/quant/quant.h \
 engine/recipe/lint.h engine/eval/sensitivity.h engine/eval/qplan.h \
 engine/io/writer.h
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
engine/recipe/deploy.h:
engine/base/format.h:
engine/io/report.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/quant/quant.h:
engine/recipe/lint.h:
engine/eval/sensitivity.h:
engine/eval/qplan.h:
engine/io/writer.h:
