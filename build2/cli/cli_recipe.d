build2/cli/cli_recipe.o: cli/cli_recipe.c cli/cli_recipe.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h \
 engine/recipe/recipe.h engine/model/match.h engine/quant/scheme.h \
 engine/base/yamltree.h cli/cli.h
cli/cli_recipe.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
cli/cli.h:
