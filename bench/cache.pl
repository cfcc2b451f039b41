#!/usr/bin/perl

# How many finished media-job answers a 10 MB ci_jobs_cache_zone holds,
# for three answer sizes.  (Cache HIT throughput is one of bench/run.pl's
# scenarios.)
#
# The answers are the media job of the API documentation's sample
# (t/unit/xml/seed002.xml), served by an nginx server block standing in for
# CI, so that the upstream is never the bottleneck.
#
#   perl bench/cache.pl            (make bench-cache)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use CiJobsTest;

my $seed = CiJobsTest::slurp("$CiJobsTest::ROOT/t/unit/xml/seed002.xml");
my ($job) = $seed =~ m{(    <JobsDetail>.*?</JobsDetail>\n)}s or die "seed";
die "the sample job is not finished\n" unless $job =~ m{<State>Success<};

# three sizes: the sample as it is, without its MediaInfo, and that padded
# (in UserData) to 3 KB
my %bodies = (full => "<Response>\n$job</Response>\n");
(my $small = $job) =~ s{\n *<MediaInfo>.*</MediaInfo>}{}s;
$bodies{small} = "<Response>\n$small</Response>\n";
my ($sample_id) = $job =~ m{<JobId>([^<]+)</JobId>} or die "seed: no JobId";
($bodies{mid} = $bodies{small})
    =~ s{<UserData>}{'<UserData>' . ('x' x (3072 - length $bodies{small}))}e;

my $upstream = CiJobsTest::free_port();

my $t = CiJobsTest->new(emulators => {}, start => 0, http => <<"CONF");
    ci_jobs_cache_zone ci_jobs:10m;
    access_log off;

    server {
        listen 127.0.0.1:$upstream;
        default_type application/xml;
        # the answer names the job asked for (the cache stores no other):
        # ids as long as the sample's, so that the sizes stay its own
        location ~ ^/jobs/(?<kind>small|mid|full)(?<num>\\d+)\$ {
            alias %%DIR%%/\$kind.xml;
            sub_filter_types application/xml;
            sub_filter $sample_id \$kind\$num;
        }
    }

    upstream ci {
        server 127.0.0.1:$upstream;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        add_header X-Cache \$ci_jobs_cache_status always;

        location /ci/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://ci;
            ci_jobs_cache ci_jobs;
        }
    }
CONF

for my $name (keys %bodies) {
    open my $fh, '>', $t->dir . "/$name.xml" or die;
    print $fh $bodies{$name};
    close $fh;
}

$t->start_nginx;

for my $name (qw(small mid full)) {
    my $n = int(14 * 1024 * 1024 / length $bodies{$name});

    my $id = sub { sprintf '%s%0*d', $name, length($sample_id) - length $name,
                           $_[0] };

    for my $i (1 .. $n) {
        my $r = $t->get('/ci/jobs/' . $id->($i));
        die "$name$i: $r->{status}\n" unless $r->{status} == 200
                                           && $r->{body} =~ /$name\d+</;
    }

    my $held = 0;
    for (my $i = $n; $i >= 1; $i--) {
        last unless ($t->get('/ci/jobs/' . $id->($i))->{headers}{'x-cache'}
                     // '') eq 'HIT';
        $held++;
    }

    printf "10 MB zone: %5d answers of %4d bytes held (%.0f bytes of zone "
           . "each)\n", $held, length $bodies{$name},
           10 * 1024 * 1024 / $held;
}

$t->stop_all;
