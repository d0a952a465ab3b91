// edgesight's TensorRT shim (see shim.h for the contract). Compiled by build.rs with the `cc`
// crate when the `tensorrt` feature is on, against whichever TensorRT headers build.rs found
// (TENSORRT_ROOT, the system's, or those `make setup` unpacks into .deps/tensorrt/include).
//
// Version differences handled here:
// - TensorRT 8.x: explicit-batch networks need kEXPLICIT_BATCH; FP16 is a builder flag.
// - TensorRT 10.0-10.11: explicit batch is the default; FP16 is a builder flag.
// - TensorRT 10.12+: networks are created strongly typed (precision from the ONNX graph: FP16
//   weights, Q/DQ nodes); 11.x removed the FP16 flag and is always strongly typed.

#include "shim.h"

#include <NvInfer.h>
#include <NvOnnxParser.h>
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#define ES_TRT_AT_LEAST(major, minor) \
    (NV_TENSORRT_MAJOR > (major) || (NV_TENSORRT_MAJOR == (major) && NV_TENSORRT_MINOR >= (minor)))
#define ES_TRT_STRONGLY_TYPED ES_TRT_AT_LEAST(10, 12)

using namespace nvinfer1;

namespace {

typedef void* (*FactoryFn)(void*, int32_t);
typedef void* (*ParserFactoryFn)(void*, void*, int);
typedef int32_t (*VersionFn)();

class Logger : public ILogger {
public:
    EsTrtLogFn fn = nullptr;
    std::string last_error;

    void log(Severity severity, AsciiChar const* msg) noexcept override
    {
        try {
            if (severity <= Severity::kERROR) {
                last_error = msg;
            }
        } catch (...) {
        }
        if (fn != nullptr && severity <= Severity::kWARNING) {
            fn(static_cast<int>(severity), msg);
        }
    }
};

int fail(char* err, unsigned long long err_len, const std::string& msg)
{
    if (err != nullptr && err_len > 0) {
        std::size_t n = msg.size() < err_len - 1 ? msg.size() : static_cast<std::size_t>(err_len - 1);
        std::memcpy(err, msg.data(), n);
        err[n] = '\0';
    }
    return 1;
}

// (major, minor) of a getInferLibVersion() value: major*10000+minor*100+patch from 10.0 on,
// major*1000+minor*100+patch before.
void split_version(int v, int* major, int* minor)
{
    if (v >= 100000) {
        *major = v / 10000;
        *minor = (v / 100) % 100;
    } else {
        *major = v / 1000;
        *minor = (v / 100) % 10;
    }
}

std::string so_name(const char* stem)
{
    return std::string(stem) + ".so." + std::to_string(NV_TENSORRT_MAJOR);
}

void* open_library(const char* given, const char* stem, std::string* why)
{
    std::string names[2] = {given != nullptr ? std::string(given) : so_name(stem),
                            std::string(stem) + ".so"};
    int tries = given != nullptr ? 1 : 2;
    for (int i = 0; i < tries; ++i) {
        void* h = dlopen(names[i].c_str(), RTLD_NOW | RTLD_GLOBAL);
        if (h != nullptr) {
            return h;
        }
        const char* e = dlerror();
        *why += (why->empty() ? "" : "; ") + std::string(e != nullptr ? e : names[i]);
    }
    return nullptr;
}

template <typename D>
void to_array(const D& d, long long* dims, int* nb_dims)
{
    *nb_dims = d.nbDims;
    for (int i = 0; i < d.nbDims && i < ES_TRT_MAX_DIMS; ++i) {
        dims[i] = static_cast<long long>(d.d[i]);
    }
}

} // namespace

struct EsTrtRuntime {
    void* nvinfer = nullptr;
    void* parser_lib = nullptr;
    Logger logger;
    FactoryFn create_runtime = nullptr;
    FactoryFn create_builder = nullptr;
    VersionFn lib_version = nullptr;
    IRuntime* runtime = nullptr;
};

struct EsTrtEngine {
    EsTrtRuntime* rt = nullptr;
    ICudaEngine* engine = nullptr;
    IExecutionContext* context = nullptr;
};

extern "C" int es_trt_header_version(void)
{
    return NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH;
}

extern "C" int es_trt_strongly_typed(void)
{
    return ES_TRT_STRONGLY_TYPED ? 1 : 0;
}

extern "C" int es_trt_runtime_create(const char* nvinfer, EsTrtLogFn log, EsTrtRuntime** out,
                                     char* err, unsigned long long err_len)
{
    try {
        std::string why;
        void* h = open_library(nvinfer, "libnvinfer", &why);
        if (h == nullptr) {
            return fail(err, err_len, "cannot load TensorRT (" + why + ")");
        }
        EsTrtRuntime* rt = new EsTrtRuntime();
        rt->nvinfer = h;
        rt->logger.fn = log;
        rt->create_runtime = reinterpret_cast<FactoryFn>(dlsym(h, "createInferRuntime_INTERNAL"));
        rt->create_builder = reinterpret_cast<FactoryFn>(dlsym(h, "createInferBuilder_INTERNAL"));
        rt->lib_version = reinterpret_cast<VersionFn>(dlsym(h, "getInferLibVersion"));
        if (rt->create_runtime == nullptr || rt->create_builder == nullptr || rt->lib_version == nullptr) {
            es_trt_runtime_destroy(rt);
            return fail(err, err_len, "the loaded libnvinfer lacks TensorRT's factory entry points");
        }
        int major = 0, minor = 0;
        split_version(rt->lib_version(), &major, &minor);
        if (major != NV_TENSORRT_MAJOR) {
            std::string msg = "libnvinfer is TensorRT " + std::to_string(major) + "." + std::to_string(minor)
                + " but edgesight was built with TensorRT " + std::to_string(NV_TENSORRT_MAJOR) + "."
                + std::to_string(NV_TENSORRT_MINOR)
                + " headers; rebuild with TENSORRT_ROOT pointing at the installed version's headers";
            es_trt_runtime_destroy(rt);
            return fail(err, err_len, msg);
        }
        *out = rt;
        return 0;
    } catch (...) {
        return fail(err, err_len, "out of memory creating the TensorRT runtime");
    }
}

extern "C" void es_trt_runtime_destroy(EsTrtRuntime* rt)
{
    if (rt == nullptr) {
        return;
    }
    delete rt->runtime;
    // The libraries stay loaded: TensorRT objects elsewhere may still refer to their code.
    delete rt;
}

extern "C" int es_trt_library_version(const EsTrtRuntime* rt)
{
    return rt->lib_version();
}

extern "C" int es_trt_build(EsTrtRuntime* rt, const char* onnxparser, const void* onnx,
                            unsigned long long onnx_len, int max_batch, int fp16,
                            unsigned long long workspace_bytes, void** plan,
                            unsigned long long* plan_len, char* err, unsigned long long err_len)
{
    IBuilder* builder = nullptr;
    INetworkDefinition* network = nullptr;
    nvonnxparser::IParser* parser = nullptr;
    IBuilderConfig* config = nullptr;
    IHostMemory* memory = nullptr;
    int rc = 0;
    try {
        if (rt->parser_lib == nullptr) {
            std::string why;
            rt->parser_lib = open_library(onnxparser, "libnvonnxparser", &why);
            if (rt->parser_lib == nullptr) {
                return fail(err, err_len, "cannot load TensorRT's ONNX parser (" + why + ")");
            }
        }
        auto create_parser =
            reinterpret_cast<ParserFactoryFn>(dlsym(rt->parser_lib, "createNvOnnxParser_INTERNAL"));
        if (create_parser == nullptr) {
            return fail(err, err_len, "libnvonnxparser lacks createNvOnnxParser_INTERNAL");
        }
        builder = static_cast<IBuilder*>(rt->create_builder(&rt->logger, NV_TENSORRT_VERSION));
        if (builder == nullptr) {
            return fail(err, err_len, "createInferBuilder failed: " + rt->logger.last_error);
        }
#if NV_TENSORRT_MAJOR < 10
        NetworkDefinitionCreationFlags flags =
            1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH);
#elif ES_TRT_STRONGLY_TYPED && NV_TENSORRT_MAJOR == 10
        NetworkDefinitionCreationFlags flags =
            1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#else
        NetworkDefinitionCreationFlags flags = 0;
#endif
        network = builder->createNetworkV2(flags);
        parser = network == nullptr
            ? nullptr
            : static_cast<nvonnxparser::IParser*>(create_parser(network, &rt->logger, NV_ONNX_PARSER_VERSION));
        if (parser == nullptr) {
            rc = fail(err, err_len, "cannot create the network or the ONNX parser: " + rt->logger.last_error);
        } else if (!parser->parse(onnx, static_cast<std::size_t>(onnx_len))) {
            std::string msg = "TensorRT's ONNX parser rejected the model:";
            for (int i = 0; i < parser->getNbErrors(); ++i) {
                msg += std::string(" ") + parser->getError(i)->desc() + ";";
            }
            rc = fail(err, err_len, msg);
        }
        if (rc == 0) {
            config = builder->createBuilderConfig();
            config->setMemoryPoolLimit(MemoryPoolType::kWORKSPACE, static_cast<std::size_t>(workspace_bytes));
#if !ES_TRT_STRONGLY_TYPED
            if (fp16 != 0) {
                config->setFlag(BuilderFlag::kFP16);
            }
#else
            (void)fp16;
#endif
            IOptimizationProfile* profile = builder->createOptimizationProfile();
            bool dynamic = false;
            for (int i = 0; i < network->getNbInputs() && rc == 0; ++i) {
                ITensor* t = network->getInput(i);
                Dims d = t->getDimensions();
                for (int k = 1; k < d.nbDims; ++k) {
                    if (d.d[k] < 0) {
                        rc = fail(err, err_len, std::string("input ") + t->getName()
                                + " has a dynamic dimension other than the batch; export it with a fixed size");
                    }
                }
                if (rc == 0 && d.nbDims > 0 && d.d[0] < 0) {
                    Dims lo = d, hi = d;
                    lo.d[0] = 1;
                    hi.d[0] = max_batch;
                    profile->setDimensions(t->getName(), OptProfileSelector::kMIN, lo);
                    profile->setDimensions(t->getName(), OptProfileSelector::kOPT, hi);
                    profile->setDimensions(t->getName(), OptProfileSelector::kMAX, hi);
                    dynamic = true;
                }
            }
            if (rc == 0 && dynamic) {
                config->addOptimizationProfile(profile);
            }
        }
        if (rc == 0) {
            memory = builder->buildSerializedNetwork(*network, *config);
            if (memory == nullptr || memory->size() == 0) {
                rc = fail(err, err_len, "building the engine failed: " + rt->logger.last_error);
            } else {
                *plan = std::malloc(memory->size());
                if (*plan == nullptr) {
                    rc = fail(err, err_len, "out of memory copying the engine");
                } else {
                    std::memcpy(*plan, memory->data(), memory->size());
                    *plan_len = memory->size();
                }
            }
        }
    } catch (...) {
        rc = fail(err, err_len, "unexpected exception while building the engine");
    }
    delete memory;
    delete config;
    delete parser;
    delete network;
    delete builder;
    return rc;
}

extern "C" void es_trt_free(void* p)
{
    std::free(p);
}

extern "C" int es_trt_engine_create(EsTrtRuntime* rt, const void* plan, unsigned long long plan_len,
                                    EsTrtEngine** out, char* err, unsigned long long err_len)
{
    try {
        if (rt->runtime == nullptr) {
            rt->runtime = static_cast<IRuntime*>(rt->create_runtime(&rt->logger, NV_TENSORRT_VERSION));
            if (rt->runtime == nullptr) {
                return fail(err, err_len, "createInferRuntime failed: " + rt->logger.last_error);
            }
        }
        ICudaEngine* engine = rt->runtime->deserializeCudaEngine(plan, static_cast<std::size_t>(plan_len));
        if (engine == nullptr) {
            return fail(err, err_len, "cannot deserialize the engine: " + rt->logger.last_error);
        }
        IExecutionContext* context = engine->createExecutionContext();
        if (context == nullptr) {
            delete engine;
            return fail(err, err_len, "cannot create an execution context: " + rt->logger.last_error);
        }
        EsTrtEngine* e = new EsTrtEngine();
        e->rt = rt;
        e->engine = engine;
        e->context = context;
        *out = e;
        return 0;
    } catch (...) {
        return fail(err, err_len, "out of memory creating the engine");
    }
}

extern "C" void es_trt_engine_destroy(EsTrtEngine* e)
{
    if (e == nullptr) {
        return;
    }
    delete e->context;
    delete e->engine;
    delete e;
}

extern "C" int es_trt_engine_io_count(const EsTrtEngine* e)
{
    return e->engine->getNbIOTensors();
}

extern "C" int es_trt_engine_io(const EsTrtEngine* e, int index, char* name,
                                unsigned long long name_len, int* is_input, int* dtype,
                                long long* dims, int* nb_dims)
{
    if (index < 0 || index >= e->engine->getNbIOTensors()) {
        return 1;
    }
    const char* n = e->engine->getIOTensorName(index);
    if (n == nullptr || std::strlen(n) + 1 > name_len) {
        return 1;
    }
    std::memcpy(name, n, std::strlen(n) + 1);
    *is_input = e->engine->getTensorIOMode(n) == TensorIOMode::kINPUT ? 1 : 0;
    *dtype = static_cast<int>(e->engine->getTensorDataType(n));
    to_array(e->engine->getTensorShape(n), dims, nb_dims);
    return 0;
}

extern "C" int es_trt_context_shape(const EsTrtEngine* e, const char* name, long long* dims,
                                    int* nb_dims)
{
    to_array(e->context->getTensorShape(name), dims, nb_dims);
    return *nb_dims < 0 ? 1 : 0;
}

extern "C" int es_trt_set_input_shape(EsTrtEngine* e, const char* name, const long long* dims,
                                      int nb_dims, char* err, unsigned long long err_len)
{
    if (nb_dims < 0 || nb_dims > ES_TRT_MAX_DIMS) {
        return fail(err, err_len, "too many dimensions");
    }
    Dims d{};
    d.nbDims = nb_dims;
    for (int i = 0; i < nb_dims; ++i) {
        d.d[i] = static_cast<decltype(d.d[0] + 0)>(dims[i]);
    }
    if (!e->context->setInputShape(name, d)) {
        return fail(err, err_len, std::string("setInputShape(") + name + ") refused: " + e->rt->logger.last_error);
    }
    return 0;
}

extern "C" int es_trt_set_address(EsTrtEngine* e, const char* name, void* device_ptr, char* err,
                                  unsigned long long err_len)
{
    if (!e->context->setTensorAddress(name, device_ptr)) {
        return fail(err, err_len, std::string("setTensorAddress(") + name + ") refused: " + e->rt->logger.last_error);
    }
    return 0;
}

extern "C" int es_trt_enqueue(EsTrtEngine* e, void* stream, char* err, unsigned long long err_len)
{
    if (!e->context->enqueueV3(static_cast<cudaStream_t>(stream))) {
        return fail(err, err_len, "enqueueV3 failed: " + e->rt->logger.last_error);
    }
    return 0;
}
