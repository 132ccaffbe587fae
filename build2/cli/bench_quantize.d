build2/cli/bench_quantize.o: cli/bench_quantize.c \
 /usr/include/cjson/cJSON.h cli/cli.h engine/base/qt.h \
 engine/model/model.h engine/base/dtype.h engine/io/gguf_write.h \
 engine/io/writer.h engine/recipe/gguf_plan.h engine/base/yamltree.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/model/model.h:
engine/base/dtype.h:
engine/io/gguf_write.h:
engine/io/writer.h:
engine/recipe/gguf_plan.h:
engine/base/yamltree.h:
