"""第1章 背景介绍 → chapters/ch01_background.ipynb  (run: .venv/bin/python book/build_chapters/ch01.py)"""

from nbgen import CHECK, CHECK_HELPER, Exercises, build, code, md

ex = Exercises()
cells = []

cells += [
    md(r"""
# 第1章 背景介绍

这一章回答三个问题：**神经网络和深度学习是什么**，**它们在哪里取得了成功**，以及**它们是怎样一步步走到今天的**。
在讲历史之前，我们先在本章第 1.2 节里亲手训练一个只有十几个神经元的小网络，让它完成一件线性模型做不到的事——
这个小例子里已经包含了全书的主线：用参数化的函数拟合数据、用梯度下降调整参数、用非线性变换得到更好的特征。

学完本章，你应该能够：

- 用自己的话说清"神经网络""深度学习"与机器学习的关系；
- 解释为什么一条直线分不开异或（XOR）数据，而加一个隐藏层就可以；
- 说出神经网络发展史上的几个关键节点，以及 2012 年前后发生了什么。

本章只用到 nnlib 的 `nn.Linear`、`nn.Tanh` 和 `nn.CrossEntropyLoss`；它们的内部原理在第 2、3 章逐一推导，这里先把它们当作"黑盒"使用。
"""),
    md(r"""
## 1.1 什么是神经网络，什么是深度学习

**机器学习**（machine learning）要做的事可以写成一句话：给定数据 $\{(x_i, y_i)\}_{i=1}^{N}$，从一族带参数的函数 $f_\theta$ 中挑出一个，使 $f_\theta(x_i)$ 尽量接近 $y_i$，并且在没见过的数据上也表现良好。
这里 $x_i$ 是输入（例如一张图片的像素），$y_i$ 是期望的输出（例如"猫"这个类别），$\theta$ 是模型的全部可调参数。
"挑函数"的办法通常是定义一个**损失函数**（loss function）$J(\theta)$ 来衡量预测与标签的差距，再用**梯度下降**（gradient descent）让它变小：

$$
\theta \leftarrow \theta - \eta \, \frac{\partial J}{\partial \theta},
$$

其中 $\eta > 0$ 是学习率（步长），$\partial J / \partial \theta$ 是损失对参数的梯度，与 $\theta$ 形状相同。

**神经网络**（neural network）就是这样一族函数，它的特点是由许多简单的计算单元——**人工神经元**（artificial neuron）——分层组合而成。
一个神经元先对输入做加权求和再加上偏置，然后经过一个非线性的**激活函数** $\sigma$：输出 $\sigma(w^\top x + b)$。
把许多神经元并排放成一"层"，再把若干层首尾相接，就得到一个神经网络；第 2 章会精确地写出每个符号的形状。
网络的参数 $\theta$ 就是所有层的权重 $W$ 和偏置 $b$，它们全部由数据通过梯度下降学出来。

**深度学习**（deep learning）指的是使用**多层**（"深"）神经网络的机器学习 {cite}`goodfellow2016deep`。
它与传统机器学习的关键区别在于**特征从哪里来**：

| | 传统机器学习 | 深度学习 |
|---|---|---|
| 特征 | 由专家手工设计（如图像的边缘方向直方图、语音的梅尔倒谱系数） | 由网络的各层从原始数据中自动学出 |
| 模型 | 在手工特征上训练一个较浅的模型（如线性模型、支持向量机） | 从原始输入到输出端到端地训练整个多层网络 |
| 主要瓶颈 | 特征设计需要大量领域知识 | 需要较多数据与算力 |

换句话说，深度网络的前几层把原始输入变换成越来越有用的**表示**（representation），最后一层只需在这些表示上做一个简单的（常常是线性的）判断。
第 2.2 节会用实验展示这种"逐层变得更有用"的表示；下面先看一个最小的例子。
"""),
    md(r"""
## 1.2 一个最小的例子：直线画不出的边界

### 线性模型的边界一定是直线

考虑平面上的二分类：输入 $x \in \mathbb{R}^2$，类别 $y \in \{0, 1\}$。最简单的模型是**线性模型**：为每个类别 $c$ 算一个得分 $z_c = w_c^\top x + b_c$，其中 $w_c \in \mathbb{R}^2$、$b_c \in \mathbb{R}$，预测得分较大的那一类。
两个类别得分相等的点构成**决策边界**（decision boundary）：

$$
z_1 = z_0 \iff (w_1 - w_0)^\top x + (b_1 - b_0) = 0 .
$$

这是关于 $x$ 的一次方程，所以**线性模型的决策边界永远是一条直线**（在 $\mathbb{R}^n$ 中是一个超平面）。

**异或（XOR）** 是直线分不开的经典例子。取四个点：$(0,0)$ 和 $(1,1)$ 属于类别 0，$(1,0)$ 和 $(0,1)$ 属于类别 1。
假设存在 $u = w_1 - w_0 \in \mathbb{R}^2$ 和 $c = b_1 - b_0$，使类别 1 的点满足 $u^\top x + c > 0$、类别 0 的点满足 $u^\top x + c \le 0$。那么

$$
\underbrace{(u_1 + c) + (u_2 + c)}_{\text{两个类别 1 的点：} > 0} \;=\; u_1 + u_2 + 2c \;=\; \underbrace{c + (u_1 + u_2 + c)}_{\text{两个类别 0 的点：} \le 0},
$$

同一个数既大于 0 又不大于 0，矛盾。所以**不存在**能分开异或的直线。
1969 年 Minsky 和 Papert 正是用这类例子指出单层感知机的局限 {cite}`minsky1969perceptrons`，这在当时大大冷却了人们对神经网络的热情。

### 加一个隐藏层

现在在输入和输出之间插入一个有 16 个神经元的**隐藏层**（hidden layer）：

$$
h = \tanh(W_1 x + b_1), \qquad z = W_2 h + b_2 ,
$$

其中 $W_1 \in \mathbb{R}^{16 \times 2}$、$b_1 \in \mathbb{R}^{16}$、$h \in \mathbb{R}^{16}$、$W_2 \in \mathbb{R}^{2 \times 16}$、$b_2 \in \mathbb{R}^{2}$、$z \in \mathbb{R}^2$（两个类别的得分），$\tanh$ 逐元素作用。
（这里按本书第 3 章起统一采用的写法，权重矩阵的形状是"输出维数 × 输入维数"，与 PyTorch 一致；第 2.1 节会说明它与源文档 $W^\top x$ 写法的关系。）
输出层仍然是线性的，所以**在 $h$ 的坐标里**决策边界仍是一个超平面；但 $h$ 是 $x$ 的非线性函数，这个超平面拉回到原来的 $x$ 平面上就成了一条**曲线**。
隐藏层的作用，就是把数据变换到一个线性模型能够处理的新坐标系里。

### 训练方法

两个模型都用**交叉熵损失** $J$（第 3 章详细介绍；这里只需知道：分类越有把握地正确，$J$ 越小）和最朴素的梯度下降训练：
每一步先做一次前向计算得到 $J$，再调用 `model.backward(...)` 让 nnlib 把 $\partial J/\partial \theta$ 写进每个参数的 `.grad`（它怎样算出来是第 3.2 节的内容），
最后对每个参数执行 $\theta \leftarrow \theta - \eta\,\partial J/\partial \theta$。

我们在两个数据集上比较：

- **异或**：200 个点均匀分布在 $[-1,1]^2$ 上，第一、三象限为类别 0，第二、四象限为类别 1；
- **双月**（two moons）：scikit-learn 的 `make_moons`，两个相互咬合的半月形，加了噪声。

每个数据集另外生成 200 个点作为**测试集**，只用来评估，不参与训练。
"""),
    code(r"""
import numpy as np
import matplotlib.pyplot as plt
from sklearn.datasets import make_moons

import nnlib
from nnlib import nn

rng = np.random.default_rng(0)  # 本章所有随机数都从这里（或固定的 random_state）来：结果可复现


def make_xor(n, rng):
    # n 个点均匀分布在 [-1, 1]²；第一、三象限标 0，第二、四象限标 1
    X = rng.uniform(-1, 1, size=(n, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    return X, y


datasets = {}
X, y = make_xor(400, rng)
datasets["异或"] = (X[:200], y[:200], X[200:], y[200:])           # (训练输入, 训练标签, 测试输入, 测试标签)
X, y = make_moons(n_samples=400, noise=0.2, random_state=0)
datasets["双月"] = (X[:200], y[:200], X[200:], y[200:])

for name, (X_train, y_train, X_test, y_test) in datasets.items():
    print(f"{name}: X_train {X_train.shape} {X_train.dtype}, y_train {y_train.shape} {y_train.dtype}, "
          f"类别 1 占 {y_train.mean():.3f}")
""", tags=[CHECK]),
    md(r"""
两个模型。`.double()` 把参数换成 float64：这一章的网络很小，用双精度可以让结果在不同机器上几乎逐位一致。
`nn.Linear(2, 2)` 的两个输出就是两个类别的得分 $z_0, z_1$。
"""),
    code(r"""
def linear_model():
    return nn.Linear(2, 2).double()                       # z = W x + b，W: (2, 2)


def mlp(hidden=16):
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(),   # h = tanh(W1 x + b1)
                         nn.Linear(hidden, 2)).double()     # z = W2 h + b2


def train(model, X, y, lr=0.5, steps=2000):
    criterion = nn.CrossEntropyLoss()
    for step in range(steps):
        loss = criterion(model(X), y)           # 前向：得分 → 损失 J
        model.zero_grad()                       # 清掉上一步的梯度
        model.backward(criterion.backward())    # 反向：把 ∂J/∂θ 写进每个参数的 .grad
        for p in model.parameters():            # 梯度下降：θ ← θ − η·∂J/∂θ
            p.data -= lr * p.grad
    return float(loss)


def accuracy(model, X, y):
    return float((model(X).argmax(axis=1) == y).mean())


print(mlp())
"""),
    md(r"""
训练四个模型（2 个数据集 × 2 种模型）。每个模型创建前都用 `nnlib.manual_seed(0)` 固定初始权重。
下表是你应该看到的结果（准确率是分对的点所占的比例；每个集合 200 个点，所以准确率是 0.005 的整数倍，表中的三位小数就是它的精确值）：
线性模型在异或上的准确率不到 0.7，只比随机猜测（0.5）好一些；在双月上它能分对大部分点，但咬合处总会出错。带隐藏层的网络在两个数据集上的测试准确率都不低于 0.96。
"""),
    code(r"""
models = {}
print(f"{'数据集':<4} {'模型':<8} {'参数个数':>4} {'最终损失':>6} {'训练准确率':>6} {'测试准确率':>6}")
for name, (X_train, y_train, X_test, y_test) in datasets.items():
    for kind, make in [("线性模型", linear_model), ("一个隐藏层", mlp)]:
        nnlib.manual_seed(0)
        model = make()
        loss = train(model, X_train, y_train)
        models[name, kind] = model
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{name:<5} {kind:<8} {n_params:>6} {loss:>10.3f} {accuracy(model, X_train, y_train):>10.3f} "
              f"{accuracy(model, X_test, y_test):>10.3f}")
""", tags=[CHECK]),
    md(r"""
线性模型在异或上为什么做不好？一条直线至多完整地分对四个象限中的两个。不妨只看"切掉一个角"的直线 $x_1 + x_2 = c$（$0 \le c \le 1$）：把它右上方判为类别 0、其余判为类别 1。
在 $[-1,1]^2$ 上按面积计算，分对的比例是 $\bigl(3 - c^2/2 - (1-c)^2\bigr)/4$，它在 $c = 2/3$ 处取到最大值 $2/3$。
下面直接数一数这条直线在训练集、测试集和 $10^6$ 个均匀分布的点上分对的比例——与训练出的线性模型相差不多：
"""),
    code(r"""
def corner_line(X, c=2 / 3):
    # x1 + x2 > c（右上角）判为类别 0，其余判为类别 1
    return (X[:, 0] + X[:, 1] <= c).astype(np.int64)


Xa_train, ya_train, Xa_test, ya_test = datasets["异或"]
U, yu = make_xor(10**6, np.random.default_rng(1))       # 很多个均匀分布的点：比例接近面积之比
print(f"直线 x1 + x2 = 2/3 的准确率：训练集 {np.mean(corner_line(Xa_train) == ya_train):.3f}，"
      f"测试集 {np.mean(corner_line(Xa_test) == ya_test):.3f}，10^6 个均匀点 {np.mean(corner_line(U) == yu):.3f}"
      f"（按面积算 2/3 ≈ {2 / 3:.3f}）")
""", tags=[CHECK]),
    md(r"""
把四个模型的决策区域画出来：背景颜色是模型认为"属于类别 1"的概率（由两个得分经 softmax 得到；越红越可能是类别 1，越蓝越可能是类别 0），黑线是概率为 0.5 的决策边界，圆点是测试集，按真实类别着同样的颜色。
"""),
    code(r"""
def plot_decision(ax, model, X, y, title):
    g = np.linspace(-2.0, 3.0, 200) if X[:, 0].max() > 1.5 else np.linspace(-1.2, 1.2, 200)
    g2 = np.linspace(-1.5, 2.0, 200) if X[:, 0].max() > 1.5 else g
    xx, yy = np.meshgrid(g, g2)
    grid = np.c_[xx.ravel(), yy.ravel()]
    z = model(grid)
    p1 = 1 / (1 + np.exp(-(z[:, 1] - z[:, 0])))             # softmax 的第 2 个分量
    ax.contourf(xx, yy, p1.reshape(xx.shape), levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(xx, yy, p1.reshape(xx.shape), levels=[0.5], colors="k", linewidths=1.5)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=18, linewidths=0.5)
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


fig, axes = plt.subplots(2, 2, figsize=(9, 8.5))
for row, (name, (X_train, y_train, X_test, y_test)) in enumerate(datasets.items()):
    for col, kind in enumerate(["线性模型", "一个隐藏层"]):
        model = models[name, kind]
        acc = accuracy(model, X_test, y_test)
        plot_decision(axes[row, col], model, X_test, y_test, f"{name}：{kind}（测试准确率 {acc:.3f}）")
fig.suptitle("线性模型只能画直线；加一个隐藏层后，边界可以弯曲")
fig.tight_layout()
plt.show()
"""),
    md(r"""
左列的边界无论怎么训练都是直线：在异或上它只能"切掉一个角"；右列的网络学到了弯曲的边界——在异或上近似两条相交的直线，在双月上沿着两个半月之间的空隙蜿蜒。

注意右边的网络并没有被告知"要画曲线"。它只有 $16 \times 2 + 16 + 2 \times 16 + 2 = 82$ 个参数，训练方法和左边的线性模型**完全相同**；
差别只在于中间多了一层带非线性激活的神经元。这正是神经网络的基本想法：**非线性的层层组合**，让简单的梯度下降能够找到复杂的函数。
如果去掉 `nn.Tanh()`，两个线性层叠在一起仍然只是一个线性函数（见练习 2）。
"""),
    md(r"""
## 1.3 深度学习在哪些地方取得了突破

上面的例子只有两维输入。真实任务的输入维度高得多：一张 $224 \times 224$ 的彩色图像有 $224 \times 224 \times 3 = 150\,528$ 个数。
在这样的数据上手工设计特征极其困难，而深度网络可以直接从原始数据中学习特征，这是它在下列领域取得突破的共同原因。

- **计算机视觉。** 1998 年，LeCun 等人的卷积网络 LeNet-5 被用于读取手写数字和支票 {cite}`lecun1998gradient`。
  2012 年，Krizhevsky、Sutskever 和 Hinton 的 AlexNet 在 ImageNet 大规模视觉识别挑战赛（约 120 万张训练图像、1000 个类别）上把 top-5 错误率降到 15.3%，而第二名约为 26.2% {cite}`krizhevsky2012imagenet`，
  此后几乎所有视觉系统都转向了深度卷积网络。2015 年，残差网络（ResNet）把网络加深到 152 层 {cite}`he2016deep`。第 4.1 节会从零实现卷积网络。
- **语音识别。** 2012 年前后，多个研究组用深度网络替换声学模型中的高斯混合模型，显著降低了词错误率 {cite}`hinton2012deep`。
- **机器翻译与自然语言处理。** 循环网络（尤其是 LSTM {cite}`hochreiter1997long`）能够处理变长序列；2014 年的序列到序列模型用两个 LSTM 直接把一种语言的句子"翻译"成另一种 {cite}`sutskever2014sequence`，
  2017 年的 Transformer 则完全基于注意力机制 {cite}`vaswani2017attention`，成为今天大规模语言模型的基础。第 4.2 节会实现循环网络。
- **其他领域。** 推荐系统、医学影像辅助诊断、蛋白质结构预测、下棋与游戏等也都广泛使用深度网络；本书第 4 章在卷积网络和循环网络之后，还将加入一节介绍这些应用。

这些成功还依赖于两项"外部条件"：**大规模标注数据**（如 ImageNet）与**并行计算硬件**（GPU）。
本书的例子都足够小，在普通 CPU 上几十秒内就能跑完；需要 GPU 的较大实验会明确标出，并且默认关闭。
"""),
    md(r"""
## 1.4 简史

| 年份 | 事件 | 意义 |
|---|---|---|
| 1943 | McCulloch 与 Pitts 提出形式化的神经元模型 {cite}`mcculloch1943logical` | 用"加权求和后与阈值比较"的单元描述神经元，证明这种单元组成的网络可以实现逻辑运算 |
| 1958 | Rosenblatt 提出感知机 {cite}`rosenblatt1958perceptron` | 第一个能从样本中**学习**权重的神经元模型 |
| 1969 | Minsky 与 Papert 出版《Perceptrons》{cite}`minsky1969perceptrons` | 严格分析了单层感知机的局限（如无法表示异或），神经网络研究进入低谷 |
| 1986 | Rumelhart、Hinton 与 Williams 推广反向传播算法 {cite}`rumelhart1986learning` | 多层网络终于可以高效地训练，隐藏层能学到有用的内部表示（第 3.2 节） |
| 1989 | 万能近似定理 {cite}`hornik1989multilayer,cybenko1989approximation` | 只有一个隐藏层、但足够宽的网络能以任意精度逼近连续函数（第 2.2 节讨论它没有说什么） |
| 1997 | Hochreiter 与 Schmidhuber 提出 LSTM {cite}`hochreiter1997long` | 缓解了循环网络的梯度消失，能学习长距离依赖（第 4.2 节） |
| 1998 | LeCun 等人的 LeNet-5 {cite}`lecun1998gradient` | 卷积网络在手写数字识别上的成功应用（第 4.1 节） |
| 2006 | Hinton 等人的深度信念网络 {cite}`hinton2006fast` | 逐层预训练让很深的网络变得可训练，"深度学习"一词开始流行 |
| 2010 | Glorot 与 Bengio 分析深层网络难以训练的原因 {cite}`glorot2010understanding` | 合理的初始化（第 3 章）与不易饱和的激活函数（第 2.1 节）让深层网络可以直接用梯度下降训练 |
| 2012 | AlexNet 赢得 ImageNet 挑战赛 {cite}`krizhevsky2012imagenet`；深度网络用于语音识别 {cite}`hinton2012deep` | 深度学习在视觉和语音上全面超越传统方法 |
| 2014 | 序列到序列学习 {cite}`sutskever2014sequence` | 端到端的神经机器翻译 |
| 2015 | 残差网络 {cite}`he2016deep`、批量归一化 {cite}`ioffe2015batch` | 上百层的网络可以稳定训练 |
| 2017 | Transformer {cite}`vaswani2017attention` | 基于注意力的架构，成为大规模语言模型的基础 |

一个值得注意的规律：1986 年的反向传播、1998 年的卷积网络和 1997 年的 LSTM 在 2012 年之前就已经存在。
2012 年前后的突破，更多地来自**数据**（ImageNet）、**算力**（GPU）和一系列让深层网络**可训练**的改进（ReLU、更好的初始化、丢弃法等）同时到位 {cite}`lecun2015deep`。
"""),
    md(r"""
## 1.5 本书的组织与读法

本书按源文档的结构展开：第 2 章介绍神经元、层和"深度"的含义；第 3 章推导前向传播、反向传播与优化算法；第 4 章实现卷积网络和循环网络。
与源文档最后三部分对应的章节——工具和资源、总结与展望、常见问题解答——将在之后陆续加入。

每一章都遵循同一个模式：**先推导，再从零实现几行代码，最后与配套库 nnlib 和 PyTorch 对照。**
nnlib 的每一层都把前向和反向计算写在一起，名称、参数和 `state_dict` 的键都与 PyTorch 相同，所以学完本书可以直接转向 PyTorch。
书中标明"你应该看到"的数字都由代码格打印出来，并在每次更新时由持续集成自动核对。

## 小结

- 神经网络是由人工神经元分层组合而成的一族带参数的函数，参数由梯度下降从数据中学得；深度学习使用多层网络，让特征也从数据中学出来。
- 线性模型的决策边界是超平面，连异或都分不开；加一个带非线性激活的隐藏层，同样的梯度下降就能学到弯曲的边界。
- 深度学习在视觉、语音、翻译和语言处理上的突破，来自算法、数据和算力三者的共同进步。
"""),
    md(r"""
## 练习

每道练习下面有一个**自检格**：先在练习代码格里把 `raise NotImplementedError` 换成你的答案并运行，再运行自检格，它会告诉你"正确！"还是"再试试"。参考答案默认折叠，点开即可查看。
"""),
    code(CHECK_HELPER),
]

cells += ex.add(
    "数一数参数",
    r"""
一个全连接网络的层宽依次为 $d_0, d_1, \dots, d_L$（$d_0$ 是输入维数，$d_L$ 是输出维数），第 $l$ 层有权重 $W_l \in \mathbb{R}^{d_l \times d_{l-1}}$ 和偏置 $b_l \in \mathbb{R}^{d_l}$。
写出函数 `count_params(sizes)`，返回参数总数。例如 1.2 节的网络 `sizes = [2, 16, 2]` 应有 82 个参数。
（自检会把你的结果与 nnlib 模型的 `sum(p.numel() for p in model.parameters())` 比较。）
""",
    r"""
def count_params(sizes):
    # sizes = [d0, d1, ..., dL]；返回全部权重和偏置的个数
    raise NotImplementedError
""",
    r"""
def test_count_params():
    for sizes in ([2, 16, 2], [2, 8, 8, 8, 2], [784, 100, 10], [3, 1]):
        layers = []
        for i in range(len(sizes) - 1):
            layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.Tanh()]
        expected = sum(p.numel() for p in nn.Sequential(*layers[:-1]).parameters())
        got = count_params(sizes)
        if got != expected:
            return False, f"sizes={sizes} 时应为 {expected}，你的结果是 {got}。别忘了偏置。"
    return True, ""


check_answer("练习 1", test_count_params)
""",
    r"""
def count_params(sizes):
    # 第 l 层：权重 d_l × d_{l-1} 个，偏置 d_l 个
    return sum(d_out * d_in + d_out for d_in, d_out in zip(sizes[:-1], sizes[1:]))
""",
    r"""
第 $l$ 层贡献 $d_l d_{l-1} + d_l = d_l(d_{l-1} + 1)$ 个参数，对 $l = 1, \dots, L$ 求和即可。`[2, 16, 2]`：$16 \times 3 + 2 \times 17 = 82$。
""",
)

cells += ex.add(
    "没有激活函数，两层等于一层",
    r"""
两个线性层直接相连：$h = W_1 x + b_1$，$z = W_2 h + b_2$，其中 $W_1 \in \mathbb{R}^{m \times n}$、$W_2 \in \mathbb{R}^{k \times m}$。
证明 $z = W x + b$ 对某个 $W \in \mathbb{R}^{k \times n}$、$b \in \mathbb{R}^{k}$ 成立，并写出函数 `collapse(W1, b1, W2, b2)` 返回 `(W, b)`（NumPy 数组，形状同上）。
这说明：没有非线性激活，再多的层也只是一个线性模型，1.2 节的边界仍会是直线。
""",
    r"""
def collapse(W1, b1, W2, b2):
    # 返回 (W, b)，使 W2 @ (W1 @ x + b1) + b2 == W @ x + b 对所有 x 成立
    raise NotImplementedError
""",
    r"""
def test_collapse():
    nnlib.manual_seed(1)
    two = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 4)).double()  # 没有激活函数
    W1, b1 = two[0].weight.data, two[0].bias.data
    W2, b2 = two[1].weight.data, two[1].bias.data
    W, b = collapse(W1, b1, W2, b2)
    if np.shape(W) != (4, 3) or np.shape(b) != (4,):
        return False, f"W 应为 (4, 3)、b 应为 (4,)，你的是 {np.shape(W)} 和 {np.shape(b)}。"
    X = np.random.default_rng(2).standard_normal((10, 3))
    ok = np.allclose(X @ np.asarray(W).T + b, two(X), atol=1e-10)
    return ok, "在随机输入上 W x + b 与两层网络的输出不一致。把 h 代入 z 的式子展开看看。"


check_answer("练习 2", test_collapse)
""",
    r"""
def collapse(W1, b1, W2, b2):
    # z = W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2)
    return W2 @ W1, W2 @ b1 + b2
""",
    r"""
把 $h$ 代入：$z = W_2(W_1 x + b_1) + b_2 = (W_2 W_1)\,x + (W_2 b_1 + b_2)$，所以 $W = W_2 W_1 \in \mathbb{R}^{k \times n}$，$b = W_2 b_1 + b_2 \in \mathbb{R}^{k}$。
矩阵乘积仍是矩阵，所以任意多个线性层的复合仍是一个线性层。
""",
)

cells += ex.add(
    "亲手设计一个异或网络",
    r"""
不用训练，手工给出一个 2–2–1 网络的参数，让它**精确地**算出异或：

$$
h = \mathrm{ReLU}(W_1 x + b_1), \qquad \hat y = w_2^\top h + b_2 ,
$$

其中 $\mathrm{ReLU}(t) = \max(0, t)$ 逐元素作用，$W_1 \in \mathbb{R}^{2 \times 2}$、$b_1 \in \mathbb{R}^{2}$、$w_2 \in \mathbb{R}^{2}$、$b_2 \in \mathbb{R}$。
要求在四个点 $(0,0), (0,1), (1,0), (1,1)$ 上分别输出 $0, 1, 1, 0$。
提示：让两个隐藏单元都"看" $x_1 + x_2$，但阈值不同。
""",
    r"""
def xor_params():
    # 返回 (W1, b1, w2, b2)，形状分别为 (2, 2)、(2,)、(2,)、标量
    raise NotImplementedError
""",
    r"""
def test_xor_params():
    W1, b1, w2, b2 = (np.asarray(a, dtype=np.float64) for a in xor_params())
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    net.load_state_dict({"0.weight": W1, "0.bias": b1,          # 与 PyTorch 相同的键名
                         "2.weight": w2.reshape(1, 2), "2.bias": b2.reshape(1)})
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    out = net(corners)[:, 0]
    ok = np.allclose(out, [0, 1, 1, 0], atol=1e-9)
    return ok, f"四个点上的输出是 {np.round(out, 3)}，应为 [0, 1, 1, 0]。"


check_answer("练习 3", test_xor_params)
""",
    r"""
def xor_params():
    W1 = np.array([[1.0, 1.0],     # h1 = ReLU(x1 + x2)
                   [1.0, 1.0]])    # h2 = ReLU(x1 + x2 − 1)
    b1 = np.array([0.0, -1.0])
    w2 = np.array([1.0, -2.0])     # ŷ = h1 − 2·h2
    b2 = 0.0
    return W1, b1, w2, b2
""",
    r"""
记 $s = x_1 + x_2 \in \{0, 1, 2\}$。$h_1 = \mathrm{ReLU}(s)$ 依次为 $0, 1, 2$；$h_2 = \mathrm{ReLU}(s - 1)$ 依次为 $0, 0, 1$。
于是 $\hat y = h_1 - 2h_2$ 依次为 $0, 1, 0$，正好是异或。两个隐藏单元各自对应一条直线 $s = 0$ 与 $s = 1$，输出层把它们组合成一条"带子"——这就是隐藏层的作用。
答案不唯一，任何通过自检的参数都是对的。
""",
)

cells += ex.verification_cells()

if __name__ == "__main__":
    build("ch01_background", cells)
