build2/cli/cmd_ls.o: cli/cmd_ls.c /usr/include/cjson/cJSON.h cli/cli.h \
 engine/base/qt.h engine/daemon/client.h engine/recipe/recipe.h \
 engine/model/match.h engine/model/model.h engine/base/dtype.h \
 engine/quant/scheme.h engine/base/yamltree.h sessions/session.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/daemon/client.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/model/model.h:
engine/base/dtype.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
sessions/session.h:
